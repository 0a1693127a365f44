/**
 * JSON arrays whose elements are already serialized, spliced into a larger document without
 * parsing them again. Big read endpoints (/master/state, GET_STATE) are mostly tasks, and a task
 * that has not changed serializes to the same text every time: the views keep that text per task
 * and hand it here, so a request only builds and stringifies the small skeleton around it.
 *
 *   const text = stringifyWithRaw({ tasks: new RawJsonArray(['{"id":"a"}', '{"id":"b"}']) });
 *
 * Plain JSON.stringify of a value holding a RawJsonArray still gives correct (slower) output.
 */

// Placeholder strings: JSON.stringify escapes the control characters, so the serialized form of
// a placeholder is `"\u0001rawjson:N\u0001"` (with literal backslashes) and cannot come from the
// items themselves, which are spliced in afterwards.
const MARK = '\u0001rawjson:';
const PLACEHOLDER = /"\\u0001rawjson:(\d+)\\u0001"/g;

let collecting: string[][] | undefined;

export class RawJsonArray {
  constructor(readonly items: readonly string[]) {}

  toJSON(): unknown {
    if (!collecting) return this.items.map((s) => JSON.parse(s) as unknown);
    collecting.push(this.items as string[]);
    return `${MARK}${collecting.length - 1}\u0001`;
  }
}

/** JSON.stringify that splices RawJsonArray items in as they are. */
export function stringifyWithRaw(value: unknown): string {
  const outer = collecting;
  const raws: string[][] = [];
  collecting = raws;
  let skeleton: string;
  try {
    skeleton = JSON.stringify(value) ?? 'null';
  } finally {
    collecting = outer;
  }
  if (raws.length === 0) return skeleton;
  // A string elsewhere in the document that happens to look like a placeholder would make the
  // counts differ: then the slow, always-correct path.
  let seen = 0;
  for (const _ of skeleton.matchAll(PLACEHOLDER)) seen++;
  if (seen !== raws.length) return JSON.stringify(value) ?? 'null';
  return skeleton.replace(PLACEHOLDER, (_m, i: string) => `[${(raws[Number(i)] as string[]).join(',')}]`);
}
