/** Messages between an OnnxWorkerPool and its worker threads (onnx-worker.ts). */

export interface WorkerSetup {
  readonly modelPath: string;
  readonly executionProviders: readonly string[];
  readonly intraOpNumThreads: number;
}

export type WireTensor =
  | { readonly type: 'int64'; readonly data: BigInt64Array; readonly dims: readonly number[] }
  | { readonly type: 'float32'; readonly data: Float32Array; readonly dims: readonly number[] };

export interface OutputTensor {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

export type WorkerRequest = {
  readonly type: 'run';
  readonly id: number;
  readonly feeds: Record<string, WireTensor>;
};

export type WorkerReply =
  | { readonly type: 'ready'; readonly inputNames: string[]; readonly outputNames: string[] }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'result'; readonly id: number; readonly outputs: Record<string, OutputTensor> }
  | { readonly type: 'error'; readonly id: number; readonly message: string };

export function int64(values: readonly number[], dims: readonly number[]): WireTensor {
  return { type: 'int64', data: BigInt64Array.from(values, (v) => BigInt(v)), dims };
}

export function float32(values: ArrayLike<number>, dims: readonly number[]): WireTensor {
  return { type: 'float32', data: Float32Array.from(values), dims };
}
