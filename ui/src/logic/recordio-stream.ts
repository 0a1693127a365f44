import { RecordIODecoder } from '../../../src/base/recordio.js';

/**
 * Reads a Mesos RecordIO stream (`<length>\n<json>` back to back) from a fetch body and yields
 * each record parsed as JSON. Chunk boundaries may fall anywhere, including inside the length
 * header or a multi-byte character: the shared decoder from src/base buffers across them.
 */
export async function* readRecords<T = unknown>(body: ReadableStream<Uint8Array>, maxRecordBytes = 64 * 1024 * 1024): AsyncGenerator<T> {
  const decoder = new RecordIODecoder(maxRecordBytes);
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      for (const rec of decoder.push(value)) yield JSON.parse(rec) as T;
    }
  } finally {
    reader.releaseLock();
  }
}
