/**
 * Ecosystem preprocessing configs → tfkd's `--preprocess` keys (docs/teacher.md).
 *
 *   --preprocess imagenet    IMAGENET_PRESET: torchvision's classic eval recipe
 *   --preprocess timm:FILE   timmPreprocess: a timm `config.json` (Hub) or a bare pretrained cfg
 *   --preprocess hf:FILE     hfPreprocess:   a Hugging Face `preprocessor_config.json`
 *
 * Each resolver reproduces what the library's *eval* transform does with that file, and refuses
 * (UsageError, one line naming the file and the key) whatever tfkd's keys cannot express exactly,
 * rather than approximating it. Sources read (cited per function in configs-timm.ts, configs-hf.ts, configs-hf-classes.ts):
 *   huggingface/pytorch-image-models (main at aa4b585): timm/data/config.py, transforms_factory.py,
 *     transforms.py, constants.py, timm/models/_hub.py, _pretrained.py;
 *   huggingface/transformers: image_processing_utils.py (get_size_dict), image_transforms.py
 *     (resize, center_crop, get_resize_output_image_size), image_processing_backends.py
 *     (PilBackend), models/auto/image_processing_auto.py and the per-model processors, both the
 *     4.x `image_processing_<m>.py` classes and the 5.x `image_processing_pil_<m>.py` ones.
 *   huggingface/transformers.js src/image_processors_utils.js for contrast only: it reads a bare int
 *     `size` as a shortest edge for every class (so DeiT's `"size": 256` becomes a shorter-side
 *     resize there, a 256×256 warp in Python) and floors float sizes after toFixed(2). We follow
 *     Python, which is what the checkpoints were evaluated with.
 *
 * Where transformers 4 and 5 give a class different defaults (BEiT size/crop, EfficientNet and
 * MobileViT resample), a config that leaves the key out is refused: add the key to the file.
 * The spec never sets `layout`: the ONNX model's input decides it (both libraries produce NCHW).
 */
import { IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, type EcosystemPreprocess } from './configs-common.js';

// The resolvers live one per ecosystem (configs-timm.ts, configs-hf.ts with its class table in configs-hf-classes.ts) over shared readers
// (configs-common.ts); this module stays the one import for them.

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/**
 * torchvision's ImageNet eval recipe (references/classification/presets.py ClassificationPresetEval
 * with its defaults): Resize(256, BILINEAR) → CenterCrop(224) → ToTensor → Normalize(ImageNet).
 */
export const IMAGENET_PRESET: EcosystemPreprocess = deepFreeze({
  resize: 256,
  crop: 224,
  cropRounding: 'round',
  interpolation: 'bilinear',
  channels: 'RGB',
  scale: 1 / 255,
  mean: [...IMAGENET_DEFAULT_MEAN],
  std: [...IMAGENET_DEFAULT_STD],
  source: 'imagenet',
} satisfies EcosystemPreprocess);
