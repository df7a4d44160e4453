/**
 * The adapter probe's file-system half: which Vulkan drivers the loader would read and which are
 * software ones (the half that needs no Dawn; the Dawn half runs in test/teacher/webgpu.test.ts).
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeAdapter, probeGpuAdapter, vulkanIcds } from '../../src/util/gpu-adapter.js';
import { withTmpDir } from '../helpers/tmp-dir.js';

const icd = (lib: string) => JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: lib, api_version: '1.3.0' } });

describe('util/gpu-adapter', () => {
  it('VK_DRIVER_FILES (a folder or files): each ICD, lavapipe and SwiftShader as software, NVIDIA as hardware', () =>
    withTmpDir('icd', (dir) => {
      fs.writeFileSync(path.join(dir, 'lvp_icd.json'), icd('/x/libvulkan_lvp.so'));
      fs.writeFileSync(path.join(dir, 'nvidia_icd.json'), icd('libGLX_nvidia.so.0'));
      fs.writeFileSync(path.join(dir, 'vk_swiftshader_icd.json'), icd('./libvk_swiftshader.so'));
      fs.writeFileSync(path.join(dir, 'broken.json'), '{');
      const all = vulkanIcds({ VK_DRIVER_FILES: dir });
      expect(all.map((i) => [path.basename(i.file), i.software])).to.deep.equal([
        ['lvp_icd.json', true],
        ['nvidia_icd.json', false],
        ['vk_swiftshader_icd.json', true],
      ]);
      expect(vulkanIcds({ VK_DRIVER_FILES: path.join(dir, 'nvidia_icd.json') })).to.have.length(1);
      expect(vulkanIcds({ VK_DRIVER_FILES: path.join(dir, 'missing.json') })).to.deep.equal([]);
    }));

  it('no driver at all: no adapter, one reason, and Dawn is never started', () =>
    withTmpDir('icd-none', (dir) => {
      const p = probeGpuAdapter({ env: { VK_DRIVER_FILES: path.join(dir, 'none.json'), LD_LIBRARY_PATH: dir } });
      expect(p.adapter).to.equal(null);
      expect(p.reason).to.match(/^(libvulkan\.so\.1 not found|no Vulkan driver)/);
      expect(p.log).to.equal(undefined);
    }));

  it('describes an adapter in one line', () => {
    expect(describeAdapter({ vendor: 'nvidia', architecture: 'hopper', device: 'H100', description: 'NVIDIA H100', software: false, source: 'dawn' })).to.equal('nvidia hopper (NVIDIA H100), hardware');
  });
});
