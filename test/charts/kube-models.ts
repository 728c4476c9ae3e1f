/**
 * Validation of rendered objects against the Kubernetes API schemas
 * (kubernetes-models) and the Prometheus Operator CRD schemas
 * (@kubernetes-models/prometheus-operator). Their validators check types,
 * required fields and enums but let unknown fields through, so unknownFields
 * walks each object along the same packages' type declarations (.d.ts) and
 * reports every field the API does not define (a misspelt restartPolicy, a
 * probe option at the wrong level).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { K8sObject } from './objects.ts';

interface Shape {
  /** Property name -> the declaration file of its object type, or null for a leaf (scalar, map, alias). */
  properties: Map<string, string | null>;
}

const shapes = new Map<string, Shape | null>();

/** The first interface declared in a .d.ts file of kubernetes-models: its properties and their types' files. */
function shapeOf(file: string): Shape | null {
  if (shapes.has(file)) return shapes.get(file)!;
  const text = readFileSync(file, 'utf8');
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) imports.set(m[1], m[2]);
  const body = /^export interface \w+(?: extends ([\w, ]+))? \{\n([\s\S]*?)^\}/m.exec(text);
  let shape: Shape | null = null;
  if (body !== null) {
    shape = { properties: new Map() };
    shapes.set(file, shape);
    // Inherited properties (HTTPConfig and the like); TypeMeta's apiVersion and kind are declared again below.
    for (const parent of (body[1] ?? '').split(',').map((name) => name.trim()).filter((name) => name !== '' && name !== 'TypeMeta')) {
      const from = imports.get(parent);
      assert.ok(from, `${file}: ${parent} is imported`);
      for (const [key, child] of shapeOf(declarationFile(from, file))?.properties ?? []) shape.properties.set(key, child);
    }
    for (const m of body[2].matchAll(/^ {4}"([^"]+)"\??: (.+?);?$/gm)) {
      const ref = /^(?:Array<)?(I\w+)>?$/.exec(m[2])?.[1];
      const from = ref === undefined ? undefined : imports.get(ref);
      shape.properties.set(m[1], from === undefined ? null : declarationFile(from, file));
    }
  }
  shapes.set(file, shape);
  return shape;
}

function declarationFile(specifier: string, fromFile: string): string {
  if (specifier.startsWith('.')) return new URL(specifier.replace(/\.js$/, '.d.ts'), `file://${fromFile}`).pathname;
  return fileURLToPath(import.meta.resolve(specifier)).replace(/\.js$/, '.d.ts');
}

function walk(value: unknown, file: string | null, at: string, found: string[]): void {
  if (file === null || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => walk(item, file, `${at}[${i}]`, found));
    return;
  }
  const shape = shapeOf(file);
  if (shape === null) return;
  for (const [key, child] of Object.entries(value)) {
    if (!shape.properties.has(key)) found.push(`${at}.${key}`);
    else walk(child, shape.properties.get(key)!, `${at}.${key}`, found);
  }
}

/** The fields an API type defines, e.g. apiFields('kubernetes-models/v1/SecurityContext'). */
export function apiFields(specifier: string): string[] {
  const shape = shapeOf(declarationFile(specifier, ''));
  assert.ok(shape, `${specifier} declares an interface`);
  return [...shape.properties.keys()];
}

/** Paths of the fields in an object that its API type does not define. */
export function unknownFields(object: K8sObject, specifier: string): string[] {
  const found: string[] = [];
  walk(object, declarationFile(specifier, ''), object.kind, found);
  return found;
}

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: any) => Validatable;

/** The model class for an object's apiVersion and kind, from the package that ships its schema. */
function specifierFor(object: K8sObject): string {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
  const specifier =
    group === 'monitoring.coreos.com'
      ? `@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}/${object.kind}`
      : group === ''
        ? `kubernetes-models/${version}/${object.kind}`
        : `kubernetes-models/${group}/${version}/${object.kind}`;
  return specifier;
}

async function modelFor(object: K8sObject): Promise<ModelClass> {
  const specifier = specifierFor(object);
  const module = await import(specifier);
  const model = module[object.kind] as ModelClass | undefined;
  assert.ok(model, `${specifier} exports ${object.kind}`);
  return model;
}

export async function validateAll(objects: K8sObject[]): Promise<string[]> {
  const kinds: string[] = [];
  for (const object of objects) {
    const Model = await modelFor(object);
    try {
      new Model(object).validate();
    } catch (err) {
      assert.fail(`${object.kind} ${object.metadata.name} does not validate: ${(err as Error).message}`);
    }
    assert.deepEqual(unknownFields(object, specifierFor(object)), [], `${object.kind} ${object.metadata.name}: fields the API does not define`);
    kinds.push(object.kind);
  }
  return kinds;
}

