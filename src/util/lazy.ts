/**
 * A CommonJS module's exported function, required at its first call instead of at import — for a
 * module whose loading changes process-wide state (sharp: libvips sets VIPSHOME in the environment
 * as it starts), since importing tfkd changes none (README, "Use it as a library").
 */
import { createRequire } from 'node:module';

export function lazyFunction<F extends (...args: never[]) => unknown>(id: string, from: string): F {
  const require = createRequire(from);
  let fn: F | null = null;
  return ((...args: Parameters<F>) => {
    fn ??= require(id) as F;
    return fn(...args);
  }) as F;
}
