import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManifestError } from '../../src/inject/errors.ts';
import { readYamlStream } from '../../src/inject/yaml-stream.ts';

const STREAM = `# a comment before everything
apiVersion: v1
kind: ConfigMap
metadata: {name: first}   # flow style, a trailing comment
data: {mode: "0644"}
---
---
# Source: chart/templates/only-a-comment.yaml
...
--- # a comment on the separator
apiVersion: v1
kind: ConfigMap
metadata:
  name: last
data:
  a: 'single'
  b: "double"
  c: |
    block
  d: >-
    folded
    text`;

test('a stream nobody changes is written back byte for byte (comments, empty documents, ..., no final newline)', () => {
  const stream = readYamlStream(STREAM, 'x');
  assert.equal(stream.documents.length, 4);
  assert.equal(stream.write(), STREAM);
});

test('only the changed document is written anew; it keeps its separator and the comment lines before its content', () => {
  const source = '---\n# Source: a.yaml\nkind: A\nx: {z: 1}\n---\n# Source: b.yaml\nkind: B\nx: {z: 2}   # kept\n---\n# Source: c.yaml\nkind: C\n';
  const stream = readYamlStream(source, 'x');
  (stream.documents[1].value as any).x.z = 3;
  stream.documents[1].changed = true;
  assert.equal(stream.write(), '---\n# Source: a.yaml\nkind: A\nx: {z: 1}\n---\n# Source: b.yaml\nkind: B\nx:\n  z: 3\n---\n# Source: c.yaml\nkind: C\n');
});

test('a changed first document without a separator, and one after a document with no final newline', () => {
  const stream = readYamlStream('kind: A\n---\nkind: B', 'x');
  for (const doc of stream.documents) {
    (doc.value as any).changed = true;
    doc.changed = true;
  }
  assert.equal(stream.write(), 'kind: A\nchanged: true\n---\nkind: B\nchanged: true\n');
});

test('scalars read as Kubernetes reads them (YAML 1.1: octal, on/yes; timestamps and 1:20 stay strings) and strings written quoted where another reader could mistake them', () => {
  const stream = readYamlStream('mode: 0644\nflag: on\nyes_no: y\ntime: 10:30\ndate: 2024-01-01\nnum: 1_000\ns: [ "on", "y", "0644", "1:20", "2024-01-01", "null", "8000" ]\n', 'x');
  const value = stream.documents[0].value as any;
  assert.deepEqual(value, { mode: 0o644, flag: true, yes_no: true, time: '10:30', date: '2024-01-01', num: 1000, s: ['on', 'y', '0644', '1:20', '2024-01-01', 'null', '8000'] });
  stream.documents[0].changed = true;
  const written = stream.write();
  for (const quoted of ['"on"', '"y"', '"0644"', '"1:20"', '"2024-01-01"', '"null"', '"8000"']) assert.ok(written.includes(`- ${quoted}\n`), `${quoted} in ${written}`);
  assert.deepEqual(readYamlStream(written, 'again').documents[0].value, value, 'what is written reads back the same');
});

test('JSON input (kubectl get -o json) is read too', () => {
  const stream = readYamlStream('{"apiVersion": "v1", "kind": "List", "items": [{"kind": "Service", "metadata": {"name": "a"}}]}\n', 'x');
  assert.equal((stream.documents[0].value as any).items[0].metadata.name, 'a');
});

test('a syntax error names the input, line and column, in one line', () => {
  assert.throws(() => readYamlStream('kind: A\n---\nkind: B\n  bad: [indent\n', 'manifests.yaml'), (err: Error) => {
    assert.ok(err instanceof ManifestError);
    assert.match(err.message, /^manifests\.yaml: YAML error at line \d+, column \d+: /);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
  assert.throws(() => readYamlStream('a: 1\na: 2\n', 'dup.yaml'), /^ManifestError: dup\.yaml: YAML error at line 2, column 1: Map keys must be unique/);
});

test('an alias bomb is refused, not expanded', () => {
  let source = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
  for (let i = 1; i < 9; i++) source += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
  const started = performance.now();
  assert.throws(() => readYamlStream(source, 'bomb.yaml'), /^ManifestError: bomb\.yaml: document 1: .*alias/i);
  assert.ok(performance.now() - started < 5000);
});
