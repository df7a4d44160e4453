/**
 * The only module that imports tfjs. Everything in tfkd that needs tensors imports `tf` from here,
 * so backend choice (and the kernels we register for it) happen in exactly one place.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export { tf };
