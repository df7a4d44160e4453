{
  "targets": [
    {
      "target_name": "tfkd_image",
      "sources": ["src/resample.cc", "src/policy.cc"],
      "conditions": [
        ["<!(node -p \"process.env.TFKD_JPEG === '1' ? 1 : 0\")==1", {
          "sources": ["src/jpeg.cc"],
          "defines": ["TFKD_HAVE_JPEG"],
          "libraries": ["-ljpeg"]
        }],
        ["<!(node -p \"process.env.TFKD_PNG === '1' ? 1 : 0\")==1", {
          "sources": ["src/png.cc"],
          "defines": ["TFKD_HAVE_PNG"],
          "libraries": ["-lpng16"]
        }],
        ["<!(node -p \"process.env.TFKD_WEBP === '1' ? 1 : 0\")==1", {
          "sources": ["src/webp.cc"],
          "defines": ["TFKD_HAVE_WEBP"],
          "libraries": ["-lwebp"]
        }]
      ],
      "cflags_cc": ["-O3", "-std=c++17", "-fexceptions", "-ffp-contract=off"],
      "cflags_cc!": ["-fno-exceptions"],
      "xcode_settings": { "GCC_ENABLE_CPP_EXCEPTIONS": "YES", "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=c++17", "-ffp-contract=off"] }
    }
  ],
  "conditions": [
    ["<!(node -p \"process.env.TFKD_BLAS === '0' ? 0 : 1\")==1", {
      "targets": [
        {
          "target_name": "tfkd_native",
          "sources": ["src/module.cc", "src/args.cc", "src/parallel.cc", "src/gemm.cc", "src/conv.cc", "src/depthwise.cc", "src/batchnorm.cc", "src/pool_eltwise.cc", "src/hard_act.cc", "src/gelu.cc", "src/transpose.cc"],
          "cflags_cc": ["-O3", "-std=c++17", "-fexceptions"],
          "cflags_cc!": ["-fno-exceptions"],
          "include_dirs": ["<!(node -p \"process.env.TFKD_BLAS_INCLUDE || '/usr/include/x86_64-linux-gnu'\")"],
          "libraries": ["-L<!(node -p \"process.env.TFKD_BLAS_LIBDIR || '/usr/lib/x86_64-linux-gnu'\")", "-lopenblas"],
          "xcode_settings": { "GCC_ENABLE_CPP_EXCEPTIONS": "YES", "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=c++17"] },
          "conditions": [
            ["<!(node -p \"process.env.TFKD_OPENMP === '0' ? 0 : 1\")==1", {
              "cflags_cc": ["-fopenmp"],
              "libraries": ["-fopenmp"]
            }],
            ["<!(node -p \"process.env.TFKD_DNNL === '1' ? 1 : 0\")==1", {
              "sources": ["src/dnnl_conv.cc"],
              "defines": ["TFKD_HAVE_DNNL"],
              "libraries": ["-ldnnl"]
            }]
          ]
        }
      ]
    }]
  ]
}
