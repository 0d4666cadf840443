/**
 * Where bytes come from: a file, memory, or (later) HTTP ranges. The TIFF reader only sees this interface,
 * in the manner of cogeotiff's `Source`, so one reader serves every transport.
 */
export interface ByteSource {
  /** Shown in messages: a path or URL. */
  readonly name: string;
  /** Total size in bytes. */
  size(): Promise<number>;
  /**
   * Bytes [offset, offset + length). Must return exactly `length` bytes or throw
   * (CorruptTiffError naming the source when the range runs past the end).
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * True when every `read` returns a new array of its own that no one else holds (a local file): a reader may then
   * free it once decoded (`release`). Absent: reads may be shared or cached (HTTP, memory).
   */
  readonly freshReads?: boolean;
  close?(): Promise<void>;
}
