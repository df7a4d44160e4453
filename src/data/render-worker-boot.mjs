// Entry of a render worker thread (src/data/render-pool.ts). Worker threads do not inherit the
// tsx loader that bin/tfkd.js registers with tsx's API, so register it here, then load the worker.
import { register } from 'tsx/esm/api';

register();
await import('./render-worker.ts');
