import { utf8Length } from '../../../src/base/bytes.js';

/**
 * Following a sandbox file over the agent's /files/read (reference api-contracts §3.1): ask with
 * offset -1 for the size, start `tailBytes` before the end, then page forward by the UTF-8 byte
 * length of each `data` (the agent cuts slices on character boundaries, so bytes advance exactly).
 * Pure: the caller does the fetch and the waiting. Bounded: the text kept is at most `maxChars`.
 */
export interface FollowState {
  /** Next byte offset to read, or -1 before the size is known. */
  offset: number;
  text: string;
  /** Bytes dropped from the front to keep text bounded (or never read: before the tail). */
  truncated: boolean;
  /** Consecutive empty reads, for the backoff. */
  idleReads: number;
}

export interface FollowOptions {
  tailBytes: number;
  maxChars: number;
  pageBytes: number;
  minDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_FOLLOW: FollowOptions = { tailBytes: 64 * 1024, maxChars: 1_000_000, pageBytes: 64 * 1024, minDelayMs: 250, maxDelayMs: 2000 };

export function startFollow(): FollowState {
  return { offset: -1, text: '', truncated: false, idleReads: 0 };
}

export function nextRead(s: FollowState, o: FollowOptions = DEFAULT_FOLLOW): { offset: number; length?: number } {
  return s.offset < 0 ? { offset: -1 } : { offset: s.offset, length: o.pageBytes };
}

export interface ReadReply {
  offset: number;
  data: string;
}

/** Applies one reply; returns the new state and how long to wait before the next read. */
export function applyRead(s: FollowState, reply: ReadReply, o: FollowOptions = DEFAULT_FOLLOW): { state: FollowState; delayMs: number } {
  if (s.offset < 0) {
    // The size reply: start a tail window before the end.
    const start = Math.max(0, reply.offset - o.tailBytes);
    return { state: { offset: start, text: '', truncated: start > 0, idleReads: 0 }, delayMs: 0 };
  }
  if (reply.data.length === 0) {
    const idle = s.idleReads + 1;
    return { state: { ...s, idleReads: idle }, delayMs: Math.min(o.maxDelayMs, o.minDelayMs * 2 ** Math.min(idle - 1, 8)) };
  }
  let text = s.text + reply.data;
  let truncated = s.truncated;
  if (text.length > o.maxChars) {
    // Drop whole lines from the front so the view never starts mid-line.
    const cut = text.indexOf('\n', text.length - o.maxChars);
    text = text.slice(cut >= 0 ? cut + 1 : text.length - o.maxChars);
    truncated = true;
  }
  return { state: { offset: reply.offset + utf8Length(reply.data), text, truncated, idleReads: 0 }, delayMs: 0 };
}

/** A file that shrank (rotated or truncated) is reread from its start. */
export function onShrunk(s: FollowState): FollowState {
  return { ...s, offset: 0, text: '', truncated: true, idleReads: 0 };
}
