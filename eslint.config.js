// ESLint flat config: typescript-eslint's recommended rules over src/, test/ and scripts/, plus the
// boundaries of the pipeline (docs/ARCHITECTURE.md §1 and §6): lower layers never import the CLI, one module
// owns onnxruntime-node (src/teacher/ort.ts), one owns tfjs (src/student/tf.ts). Import cycles are
// the other half of `npm run lint` (dpdm, type-only imports included: import-x/no-cycle skips those,
// and a type circle is still a circle of concerns).
import tseslint from 'typescript-eslint';

const CLI = { group: ['**/cli/*', '**/cli/**'], message: 'only src/cli/ imports the CLI: throw errors from src/errors.ts and let the CLI add flag hints' };
const ORT = { group: ['onnxruntime-node', 'onnxruntime-node/*', 'onnxruntime-common', 'onnxruntime-common/*'], message: 'only src/teacher/ort.ts imports onnxruntime: use the teacher/ wrappers' };
const TF = { group: ['@tensorflow/*'], message: 'only src/student/tf.ts imports tfjs: use its re-exports' };
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
  { files: ['src/**/*.ts', 'src/**/*.mjs'], rules: { 'no-restricted-imports': restrict(CLI, ORT, TF) } },
  { files: ['src/cli/**'], rules: { 'no-restricted-imports': restrict(ORT, TF) } },
  { files: ['src/teacher/ort.ts'], rules: { 'no-restricted-imports': restrict(CLI, TF) } },
  { files: ['src/student/tf.ts'], rules: { 'no-restricted-imports': restrict(CLI, ORT) } },
);
