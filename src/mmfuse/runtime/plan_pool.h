// 2x2, stride-2 max-pooling of a float32 map in oneDNN's nChw8c layout (channels in blocks of 8,
// the layout the inference plan's convolutions choose on AVX2), and of u8 codes in NHWC, for the
// lenet plans.
//
// Why not oneDNN's pooling: measured on the 2-core AVX2 machine of docs/BENCHMARKS.md, oneDNN 2.6's
// jit:avx2 max-pooling of an [N, 6, 112, 112] nChw8c map took 0.10 ms per sample (~4 GB/s from
// cache) -- as long as the 5x5 convolution before it -- and the lenet plan's poolings were a third
// of the audio encoder's forward. A 2x2 window over 8-channel blocks is four vector loads, three
// maxima and one store per output vector; this loop is that, compiled for AVX2 (core/simd.h).
#pragma once

#include <cstdint>

namespace mmfuse::runtime {

/// dst[n, c, i, j] = max of src[n, c, 2i..2i+1, 2j..2j+1] for i < h / 2, j < w / 2 (an odd last
/// row or column is left out, as MaxPool2d's floor). `blocks` = N * ceil(C / 8); src is
/// [blocks, h, w, 8], dst [blocks, h / 2, w / 2, 8] (nChw8c). Padded channels (zeros) stay zero.
/// Runs over LibTorch's intra-op threads when called outside a parallel region.
void max_pool2x2_nchw8c(const float* src, float* dst, int64_t blocks, int64_t h, int64_t w);

/// The same pooling of 8-bit codes in NHWC (the layout oneDNN's int8 convolutions write):
/// dst[n, i, j, c] = max of src[n, 2i..2i+1, 2j..2j+1, c], src [n, h, w, c], dst [n, h/2, w/2, c].
/// oneDNN 2.6's jit_int pooling of such maps with few channels (6, 12) took 4x as long as its
/// float32 pooling of the same map (AVX-512 VNNI machine of docs/BENCHMARKS.md, 2026-12-05): it
/// works a pixel of C bytes at a time. Here a pair of rows is one vector maximum over w * c bytes,
/// then a maximum of neighbouring pixels. Runs over LibTorch's intra-op threads when called
/// outside a parallel region.
void max_pool2x2_nhwc_u8(const uint8_t* src, uint8_t* dst, int64_t n, int64_t h, int64_t w,
                         int64_t c);

}  // namespace mmfuse::runtime
