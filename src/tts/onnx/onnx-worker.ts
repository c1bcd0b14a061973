/**
 * The worker thread that owns one ONNX Runtime session. onnxruntime-node's
 * `session.run` computes on the calling thread (it blocks the event loop for the
 * whole inference), so every session lives here and the main thread only posts
 * tensors in and gets tensors back. Terminating the worker frees the session.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { errorMessage } from '../../core/errors.js';
import type { WireTensor, WorkerReply, WorkerRequest, WorkerSetup } from './onnx-protocol.js';

const port = parentPort;
if (!port) throw new Error('onnx-worker must run as a worker thread');

const setup = workerData as WorkerSetup;
const ort = await import('onnxruntime-node');

function toTensor(wire: WireTensor): Tensor {
  return new ort.Tensor(wire.type, wire.data, wire.dims);
}

async function open(): Promise<InferenceSession> {
  return ort.InferenceSession.create(setup.modelPath, {
    executionProviders: [...setup.executionProviders],
    intraOpNumThreads: setup.intraOpNumThreads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
}

function post(reply: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(reply, transfer);
}

async function run(session: InferenceSession, request: Extract<WorkerRequest, { type: 'run' }>) {
  const feeds = Object.fromEntries(Object.entries(request.feeds).map(([name, t]) => [name, toTensor(t)]));
  const results = await session.run(feeds);
  const outputs: Record<string, { data: Float32Array; dims: readonly number[] }> = {};
  const transfer: ArrayBuffer[] = [];
  for (const [name, tensor] of Object.entries(results)) {
    // Copied into a fresh buffer so it can be transferred without touching ORT's memory.
    const data = Float32Array.from(tensor.data as Float32Array);
    outputs[name] = { data, dims: tensor.dims };
    transfer.push(data.buffer as ArrayBuffer);
  }
  post({ type: 'result', id: request.id, outputs }, transfer);
}

try {
  const session = await open();
  post({ type: 'ready', inputNames: [...session.inputNames], outputNames: [...session.outputNames] });
  port.on('message', (request: WorkerRequest) => {
    run(session, request).catch((error: unknown) => {
      post({
        type: 'error',
        id: request.id,
        message: errorMessage(error),
      });
    });
  });
} catch (error) {
  post({ type: 'failed', message: errorMessage(error) });
}
