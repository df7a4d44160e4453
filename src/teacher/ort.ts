/**
 * The only module that imports onnxruntime-node. Everything else (teacher sessions, export parity
 * checks, eval of .onnx files) goes through this re-export, so provider handling lives in one place.
 */
import * as ort from 'onnxruntime-node';

export { ort };
