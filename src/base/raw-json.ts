/**
 * JSON arrays whose elements are already serialized, spliced into a larger document without
 * parsing them again. Big read endpoints (/master/state, GET_STATE) are mostly tasks: the views
 * hand each task's text here (or how to make it, `RawJsonArray.map`), so a request only builds and
 * stringifies the small skeleton around them with JSON.stringify.
 *
 *   const text = stringifyWithRaw({ tasks: new RawJsonArray(['{"id":"a"}', '{"id":"b"}']) });
 *   const lazy = stringifyWithRaw({ tasks: RawJsonArray.map(tasks, (t) => taskText(t)) });
 *
 * Plain JSON.stringify of a value holding a RawJsonArray still gives correct (slower) output.
 */

// Placeholder strings: JSON.stringify escapes the control characters, so the serialized form of
// a placeholder is `"\u0001rawjson:N\u0001"` (with literal backslashes) and cannot come from the
// items themselves, which are spliced in afterwards.
const MARK = '\u0001rawjson:';
const PLACEHOLDER = /"\\u0001rawjson:(\d+)\\u0001"/g;

let collecting: RawJsonArray[] | undefined;

/** Items joined per this many: each join gives one flat string, and the small ones die young. */
const CHUNK = 256;

export class RawJsonArray {
  private readonly list: readonly unknown[];
  private readonly render: ((x: unknown) => string) | undefined;

  constructor(items: readonly string[]);
  constructor(list: readonly unknown[], render: (x: unknown) => string);
  constructor(list: readonly unknown[], render?: (x: unknown) => string) {
    this.list = list;
    this.render = render;
  }

  /**
   * Items rendered only while the document is serialized, `render(x)` for each x in `list`: the
   * texts are joined in chunks as they are made, so a request for 100,000 tasks does not keep
   * 100,000 strings alive to the end (they would all be promoted and marked by the old-generation
   * GC, which cost more than making them).
   */
  static map<T>(list: readonly T[], render: (x: T) => string): RawJsonArray {
    return new RawJsonArray(list, render as (x: unknown) => string);
  }

  /** The items' texts. */
  get items(): readonly string[] {
    const render = this.render;
    return render ? this.list.map((x) => render(x)) : (this.list as readonly string[]);
  }

  /** The array's JSON text. */
  text(): string {
    const out: string[] = [];
    this.appendTo(out);
    return out.join('');
  }

  /** Appends the array's JSON text to `out`, in pieces (one flat string per CHUNK items). */
  appendTo(out: string[]): void {
    const render = this.render;
    if (!render) {
      out.push(`[${this.list.join(',')}]`);
      return;
    }
    out.push('[');
    let part: string[] = [];
    let first = true;
    for (const x of this.list) {
      part.push(render(x));
      if (part.length === CHUNK) {
        out.push(first ? part.join(',') : `,${part.join(',')}`);
        first = false;
        part = [];
      }
    }
    if (part.length > 0) out.push(first ? part.join(',') : `,${part.join(',')}`);
    out.push(']');
  }

  toJSON(): unknown {
    if (!collecting) return this.items.map((s) => JSON.parse(s) as unknown);
    collecting.push(this);
    return `${MARK}${collecting.length - 1}\u0001`;
  }
}

/** JSON.stringify that splices RawJsonArray items in as they are. */
export function stringifyWithRaw(value: unknown): string {
  const outer = collecting;
  const raws: RawJsonArray[] = [];
  collecting = raws;
  let skeleton: string;
  try {
    skeleton = JSON.stringify(value) ?? 'null';
  } finally {
    collecting = outer;
  }
  if (raws.length === 0) return skeleton;
  // A string elsewhere in the document that happens to look like a placeholder would make the
  // placeholders differ from 0, 1, 2, ... in order: then the slow, always-correct path.
  // split with the capture group gives [text, index, text, index, ..., text].
  const parts = skeleton.split(PLACEHOLDER);
  if (parts.length !== 2 * raws.length + 1) return JSON.stringify(value) ?? 'null';
  for (let k = 0; k < raws.length; k++) if (parts[2 * k + 1] !== String(k)) return JSON.stringify(value) ?? 'null';
  // One join for the whole document: the task text is copied once, not once per nesting level.
  const out: string[] = [];
  for (let k = 0; k < raws.length; k++) {
    out.push(parts[2 * k] as string);
    (raws[k] as RawJsonArray).appendTo(out);
  }
  out.push(parts[parts.length - 1] as string);
  return out.join('');
}
