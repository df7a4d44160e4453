// Entry of the onnxruntime worker thread (src/teacher/remote.ts). Worker threads do not inherit the
// tsx loader that bin/tfkd.js registers with tsx's API, so register it here, then load the worker.
import { register } from 'tsx/esm/api';

register();
await import('./ort-worker.ts');
