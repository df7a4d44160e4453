// ESLint flat config: typescript-eslint's recommended rules over src/, test/ and scripts/, plus the
// boundaries of the pipeline (docs/ARCHITECTURE.md §1 and §6):
//  - the layer order data → teacher → cache → student → export/repro → experiment (bench, doctor
//    beside it) → cli: a module imports only its own layer and those before it; src/util/ and the
//    shared files (errors.ts, catalog.ts, settings.ts) import no layer; src/index.ts may import all;
//  - one module owns onnxruntime-node (src/teacher/ort.ts), one owns tfjs and Dawn (src/student/tf.ts),
//    and sharp is imported where images are decoded (data/pil/decode.ts) or PNGs written (the
//    report's plots, `tfkd data views`);
//  - no relays: only src/index.ts and a folder's index.ts (from its own folder) re-export.
// Import cycles are the other half of `npm run lint` (dpdm, type-only imports included:
// import-x/no-cycle skips those, and a type circle is still a circle of concerns).
import tseslint from 'typescript-eslint';

const ORT = { group: ['onnxruntime-node', 'onnxruntime-node/*', 'onnxruntime-common', 'onnxruntime-common/*'], message: 'only src/teacher/ort.ts imports onnxruntime: use the teacher/ wrappers' };
const TF = { group: ['@tensorflow/*'], message: 'only src/student/tf.ts imports tfjs: use its re-exports' };
// Dawn for Node: tf.ts loads it in-process for tfjs's WebGPU backend; util/gpu-adapter.ts only runs it
// in a child process (Dawn's Vulkan warnings go to fd 2, which only a child's pipe can catch).
const DAWN = { group: ['webgpu', 'webgpu/*'], message: 'only src/student/tf.ts loads Dawn (webgpu) in-process: ask util/gpu-adapter.ts about adapters' };
const SHARP = { group: ['sharp'], message: 'only src/data/pil/decode.ts decodes images with sharp (PIL semantics), and only the report plots and `tfkd data views` write PNGs with it: use data/pil/decode.ts' };
const SHARP_USERS = ['src/data/pil/decode.ts', 'src/experiment/plots.ts', 'src/cli/commands/data.ts'];

// The layers, lowest first; a folder may import the folders of its own rank and below.
const LAYERS = [['data'], ['teacher'], ['cache'], ['student'], ['export', 'repro'], ['experiment', 'bench', 'doctor'], ['cli']];
const above = (rank) => LAYERS.slice(rank + 1).flat();
const layerRule = (folders, rank) => ({
  group: folders.flatMap((f) => [`**/${f}/*`, `**/${f}/**`]),
  message: rank < 0
    ? 'src/util/ and the shared files (errors, catalog, settings) import no pipeline layer'
    : `the layer order is data → teacher → cache → student → export/repro → experiment/bench/doctor → cli: ${LAYERS[rank].join('/')} does not import ${above(rank).join(', ')}`,
});
const restrict = (...patterns) => ['error', { patterns }];
const owners = (file) => [file === 'src/teacher/ort.ts' ? null : ORT, file === 'src/student/tf.ts' ? null : TF, file === 'src/student/tf.ts' ? null : DAWN].filter(Boolean);

const boundaries = [
  // The shared bottom: util/ and the files at src/'s root (src/index.ts, the API, is the top).
  { files: ['src/util/**', 'src/errors.ts', 'src/catalog.ts', 'src/settings.ts'], rules: { 'no-restricted-imports': restrict(layerRule(LAYERS.flat(), -1), ORT, TF, DAWN, SHARP) } },
  ...LAYERS.flatMap((folders, rank) =>
    folders.map((f) => ({ files: [`src/${f}/**/*.ts`, `src/${f}/**/*.mjs`], rules: { 'no-restricted-imports': restrict(...(above(rank).length ? [layerRule(above(rank), rank)] : []), ORT, TF, DAWN, SHARP) } })),
  ),
  // The owners: each may import what it owns (a later block replaces an earlier one's rule).
  ...['src/teacher/ort.ts', 'src/student/tf.ts', ...SHARP_USERS].map((file) => {
    const rank = LAYERS.findIndex((fs) => fs.includes(file.split('/')[1]));
    return { files: [file], rules: { 'no-restricted-imports': restrict(...(above(rank).length ? [layerRule(above(rank), rank)] : []), ...owners(file), ...(SHARP_USERS.includes(file) ? [] : [SHARP])) } };
  }),
];

// Re-exports: none in src/ but the API (src/index.ts) and a folder's index.ts, which re-exports its
// own folder only (import from the owner, not through a door). One exception: src/student/tf.ts
// hands on the tfjs namespace itself (`export { tf }`): the student code uses a large, open-ended
// part of tfjs (ops, layers, optimizers, tidy, variables), so wrapping it would copy tfjs's API,
// and what tf.ts owns is *which* tfjs is loaded (backend, kernels, Dawn), not its calls. ort.ts,
// whose users need a session, a tensor and a provider list, exports small wrappers instead.
const RELAY = 'no relays: import from the module that defines it (only src/index.ts and a folder\'s index.ts re-export)';
const FROM_ELSEWHERE = [
  { selector: 'ExportAllDeclaration', message: RELAY },
  { selector: 'ExportNamedDeclaration[source]', message: RELAY },
];
const relays = [
  {
    files: ['src/**/*.ts'],
    ignores: ['src/index.ts', 'src/**/index.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        ...FROM_ELSEWHERE,
        { selector: 'ExportNamedDeclaration[declaration=null][source=null]', message: `${RELAY}; export a declaration where it is made` },
      ],
    },
  },
  // tf.ts may hand on the namespace it imports (`export { tf }`), and nothing else of another module.
  { files: ['src/student/tf.ts'], rules: { 'no-restricted-syntax': ['error', ...FROM_ELSEWHERE] } },
  {
    files: ['src/**/index.ts'],
    ignores: ['src/index.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration[source.value=/^\\.\\.\\u002F/]', message: "a folder's index.ts re-exports its own folder only" },
        { selector: 'ExportNamedDeclaration[source.value=/^\\.\\.\\u002F/]', message: "a folder's index.ts re-exports its own folder only" },
      ],
    },
  },
];

// Logic keeps a shape you can read top-down (docs/ARCHITECTURE.md §6): no function in src/ over 80
// lines, blank and comment lines counted — the design expansion, the training loop, the cache reader
// and the precompute pipeline first, then the benches, the CLI's option registration, the ONNX
// emitter and importer, repro, the HF/timm preprocessing configs and the GIF decoder.
const SHAPED = ['src/**/*.ts'];
const shape = { files: SHAPED, rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: false, skipComments: false, IIFEs: true }] } };

export default tseslint.config(
  { ignores: ['node_modules/**', 'coverage/**', 'runs/**', 'demo-out/**', 'dist/**', '**/*.cjs'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // The order below matters: a later block's no-restricted-imports replaces an earlier one's.
  ...boundaries,
  ...relays,
  shape,
);
