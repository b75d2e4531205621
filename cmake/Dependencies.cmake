# Every dependency is a Debian 12 package (scripts/install_deps.sh installs them).
find_package(Torch REQUIRED)
find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(ZLIB REQUIRED)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SNDFILE REQUIRED IMPORTED_TARGET sndfile)
pkg_check_modules(SAMPLERATE REQUIRED IMPORTED_TARGET samplerate)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(UCHARDET REQUIRED IMPORTED_TARGET uchardet)  # text charset detection
# ICU (libicu-dev): Unicode normalization, case mapping and categories for the WordPiece tokenizer.
find_package(ICU REQUIRED COMPONENTS uc)
# Video (data/video): FFmpeg's demuxers, decoders/encoders, scaler and resampler.
pkg_check_modules(FFMPEG REQUIRED IMPORTED_TARGET libavformat libavcodec libswscale libswresample
                  libavutil)
find_path(XXHASH_INCLUDE_DIR xxhash.h REQUIRED)
find_library(XXHASH_LIBRARY xxhash REQUIRED)
# FAISS (libfaiss-dev: a static library built with OpenMP over BLAS/LAPACK) for the retrieval indexes.
find_path(FAISS_INCLUDE_DIR faiss/IndexFlat.h REQUIRED)
find_library(FAISS_LIBRARY faiss REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(BLAS REQUIRED)
# cpp-httplib (libcpp-httplib-dev: a shared library built with OpenSSL, zlib and brotli; its
# pkg-config flags carry the matching defines) for the HTTP server (src/mmfuse/serve).
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
find_package(LAPACK REQUIRED)

# Torch's flags (ABI define) as a plain list.
separate_arguments(MMFUSE_TORCH_FLAGS UNIX_COMMAND "${TORCH_CXX_FLAGS}")
# oneDNN (libdnnl-dev), the same library LibTorch links for its convolutions: mmfuse calls its
# matmul directly for dense layers (src/mmfuse/nn/dnnl_gemm.h).
find_path(DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.hpp REQUIRED)
find_library(DNNL_LIBRARY dnnl REQUIRED)
# ONNX export (src/mmfuse/export): the ONNX protobuf classes of Debian's libonnx-dev. Linked as
# plain libraries: the ONNX targets' compile definitions would disable the shared precompiled
# header, so graph.cpp (the one file including onnx_pb.h) defines them itself.
find_library(ONNX_PROTO_LIBRARY onnx_proto REQUIRED)
find_library(PROTOBUF_LIBRARY protobuf REQUIRED)
