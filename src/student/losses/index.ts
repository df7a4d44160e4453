/**
 * The losses' public face: the registry (registry.ts), the interface every loss implements
 * (types.ts), user loss modules (user.ts) and the building blocks the losses share.
 */
export type { BatchTeacher, LossContext, LossEntry, LossFn, LossOptionName, LossOptions, LossOptionSpec, TeacherAccess } from './types.js';
export { LOSS_OPTION_NAMES } from './types.js';
export {
  builtinLosses,
  checkMixedTargets,
  defaultsText,
  describeLosses,
  entryOptionNames,
  isLossName,
  lossEntry,
  LOSS_NAMES,
  readsHint,
  resolveLossOptions,
  specDefault,
  standardizableLosses,
  teacherAccess,
} from './registry.js';
export { lossContext } from './context.js';
export { checkLossEntry, isLossModuleSpec, loadLossModule, lossFromFunction } from './user.js';
export { klRows } from './kl.js';
export { zipfTargets, zipfTargetsTensor } from './zipf-ls.js';
export { uniformPrior, virtualTeacher, virtualTeacherProbs } from './virtual-teacher.js';
