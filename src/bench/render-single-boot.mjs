// Entry of the worker thread of `tfkd bench render`'s one-thread passes (render-single.ts), from
// the sources: worker threads do not inherit the tsx loader bin/tfkd.js registers (as
// src/data/render-worker-boot.mjs).
import { register } from 'tsx/esm/api';

register();
await import('./render-single.ts');
