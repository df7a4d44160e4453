// ESLint flat config: typescript-eslint's recommended rules over src/, test/ and scripts/, plus the
// boundaries of the pipeline (docs/ARCHITECTURE.md §1 and §6): lower layers never import the CLI, one module
// owns onnxruntime-node (src/teacher/ort.ts), one owns tfjs and Dawn (src/student/tf.ts). Import cycles are
// the other half of `npm run lint` (dpdm, type-only imports included: import-x/no-cycle skips those,
// and a type circle is still a circle of concerns).
import tseslint from 'typescript-eslint';

const CLI = { group: ['**/cli/*', '**/cli/**'], message: 'only src/cli/ imports the CLI: throw errors from src/errors.ts and let the CLI add flag hints' };
const ORT = { group: ['onnxruntime-node', 'onnxruntime-node/*', 'onnxruntime-common', 'onnxruntime-common/*'], message: 'only src/teacher/ort.ts imports onnxruntime: use the teacher/ wrappers' };
const TF = { group: ['@tensorflow/*'], message: 'only src/student/tf.ts imports tfjs: use its re-exports' };
// Dawn for Node: tf.ts loads it in-process for tfjs's WebGPU backend; util/gpu-adapter.ts only runs it
// in a child process (Dawn's Vulkan warnings go to fd 2, which only a child's pipe can catch).
const DAWN = { group: ['webgpu', 'webgpu/*'], message: 'only src/student/tf.ts loads Dawn (webgpu) in-process: ask util/gpu-adapter.ts about adapters' };
const restrict = (...patterns) => ['error', { patterns }];

export default tseslint.config(
  { ignores: ['node_modules/**', 'coverage/**', 'runs/**', 'demo-out/**', 'dist/**', '**/*.cjs'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // The order below matters: a later block's no-restricted-imports replaces an earlier one's.
  { files: ['src/**/*.ts', 'src/**/*.mjs'], rules: { 'no-restricted-imports': restrict(CLI, ORT, TF, DAWN) } },
  { files: ['src/cli/**'], rules: { 'no-restricted-imports': restrict(ORT, TF, DAWN) } },
  { files: ['src/teacher/ort.ts'], rules: { 'no-restricted-imports': restrict(CLI, TF, DAWN) } },
  { files: ['src/student/tf.ts'], rules: { 'no-restricted-imports': restrict(CLI, ORT) } },
);
