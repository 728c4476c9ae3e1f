/**
 * A stream of YAML documents read so that writing it back changes only the
 * documents that were changed: every other byte of the input (documents,
 * comments, separators) is written out as it came, in its place.
 *
 * Scalars are read as Kubernetes reads them (sigs.k8s.io/yaml, on go-yaml
 * v2): YAML 1.1, so `0644` is octal, `on`/`yes`/`y` are booleans; but
 * timestamps and base-60 numbers stay strings, as go-yaml v2 gives them
 * untyped. A changed document is written with the full YAML 1.1 schema, so
 * that any string another reader could take for something else is quoted.
 */
import { Composer, CST, Document, Parser, type DocumentOptions, type ParseOptions, type SchemaOptions, type Tags } from 'yaml';
import { ManifestError } from './errors.ts';

/** Most aliases a document may expand, against "billion laughs" inputs. */
const MAX_ALIAS_COUNT = 1000;

const READ_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: '1.1',
  customTags: (tags: Tags) => tags.filter((tag) => !(typeof tag === 'object' && (tag.format === 'TIME' || tag.tag === 'tag:yaml.org,2002:timestamp'))),
  prettyErrors: false,
};

/** One document of the stream: its value, and its place in the source. */
export interface StreamDocument {
  /** The parsed value (null for an empty document); edit it in place or replace it. */
  value: unknown;
  /** Set by whoever changes the value; only changed documents are written anew. */
  changed: boolean;
  readonly index: number;
  /** The document's text as read: its separator, comments and content. */
  readonly source: string;
}

interface Piece {
  readonly text: string;
  readonly document?: StreamDocument;
  /** For a document: its separator and leading comments, kept when it is rewritten. */
  readonly head?: string;
}

export interface YamlStream {
  readonly documents: readonly StreamDocument[];
  /** The stream with changed documents written anew and everything else as read. */
  write(): string;
}

function lineAndColumn(source: string, offset: number): string {
  const before = source.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - before.lastIndexOf('\n')}`;
}

/** Reads every document of a YAML stream; throws a ManifestError naming the line of the first syntax error. */
export function readYamlStream(source: string, name: string): YamlStream {
  const tokens = [...new Parser().parse(source)];
  const composer = new Composer(READ_OPTIONS);
  const composed = [...composer.compose(tokens, false, source.length)];
  const documentTokens = tokens.filter((token) => token.type === 'document');
  if (composed.length !== documentTokens.length) throw new ManifestError(`${name}: could not split the input into YAML documents`);

  const documents: StreamDocument[] = [];
  const pieces: Piece[] = [];
  let next = 0;
  for (const token of tokens) {
    const text = CST.stringify(token);
    if (token.type !== 'document') {
      pieces.push({ text });
      continue;
    }
    const doc = composed[next];
    const index = next++;
    const problem = doc.errors[0];
    if (problem !== undefined) {
      throw new ManifestError(`${name}: YAML error at ${lineAndColumn(source, problem.pos[0])}: ${problem.message.split('\n')[0]}`);
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      throw new ManifestError(`${name}: document ${index + 1}: ${(err as Error).message.split('\n')[0]}`);
    }
    const contentsStart = doc.contents?.range[0];
    const rawHead = contentsStart === undefined ? '' : source.slice(token.offset, contentsStart);
    // Keep `---` and comment lines before the content (Helm's `# Source:` lines); anything else (tags, anchors) is not a head.
    const head = /^(---[ \t]*\n)?([ \t]*(#[^\n]*)?\n)*$/.test(rawHead) ? rawHead : text.startsWith('---') ? '---\n' : '';
    const document: StreamDocument = { value, changed: false, index, source: text };
    documents.push(document);
    pieces.push({ text, document, head });
  }

  return {
    documents,
    write(): string {
      let out = '';
      for (const piece of pieces) {
        if (piece.document === undefined || !piece.document.changed) {
          out += piece.text;
          continue;
        }
        if (out !== '' && !out.endsWith('\n')) out += '\n';
        const head = piece.head !== '' || out === '' ? piece.head! : '---\n';
        out += head + writeYamlValue(piece.document.value);
      }
      return out;
    },
  };
}

/** A value as one YAML document's content (no separator), in block style. */
export function writeYamlValue(value: unknown): string {
  return new Document(value, { version: '1.1' }).toString({ lineWidth: 0 });
}
