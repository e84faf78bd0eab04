// Fused kernel matrix-vector product: out = K(X, Z) @ A without storing K.
//
//   out[i, c] = sum_j k(x_i, z_j) * A[j, c]
//   k = exp(-gamma * |x_i - z_j|^2)   (kind 0, Gaussian: gamma = 1 / (2 s^2))
//   k = exp(-gamma * |x_i - z_j|)     (kind 1, Laplacian: gamma = 1 / s)
//
// |x - z|^2 = |x|^2 + |z|^2 - 2 x.z with the row norms precomputed on the host
// side and the dot products from a shared-memory tiled product (TILE x TILE
// threads; a block owns TILE rows of X and sweeps all of Z). Each thread keeps
// the partial sums of its row for up to CMAX outputs; the host helper splits
// wider A into chunks of CMAX columns. The TILE partial sums of a row are then
// reduced through shared memory.
//
// Compiled by CuPy RawModule (finite_expressivity.kernel.cuda), one module for
// this file, entry points per dtype: fused_kernel_matvec_float32/_float64.
// Layout: X (n, d), Z (m, d), A (m, lda) with the chunk starting at column c0,
// out (n, ldo) written at columns c0 .. c0 + c - 1; all row-major, contiguous.

#define TILE 16
#define CMAX 16

template <typename T>
__device__ __forceinline__ T kernel_value(T sq, T gamma, int kind) {
    sq = sq > T(0) ? sq : T(0);
    return kind == 0 ? exp(-gamma * sq) : exp(-gamma * sqrt(sq));
}

template <typename T>
__device__ void fused_kernel_matvec(const T* __restrict__ X, const T* __restrict__ Z,
                                    const T* __restrict__ A, const T* __restrict__ xsq,
                                    const T* __restrict__ zsq, T* __restrict__ out,
                                    int n, int m, int d, int lda, int ldo, int c0, int c,
                                    T gamma, int kind) {
    __shared__ T xs[TILE][TILE + 1];
    __shared__ T zs[TILE][TILE + 1];
    __shared__ T red[TILE][TILE][CMAX];

    const int tx = threadIdx.x;  // column of Z within the tile
    const int ty = threadIdx.y;  // row of X within the tile
    const int i = blockIdx.x * TILE + ty;

    T acc[CMAX];
#pragma unroll
    for (int k = 0; k < CMAX; ++k) acc[k] = T(0);

    for (int j0 = 0; j0 < m; j0 += TILE) {
        const int j = j0 + tx;
        T dot = T(0);
        for (int k0 = 0; k0 < d; k0 += TILE) {
            // xs[ty][tx] = X[i, k0 + tx]; zs[ty][tx] = Z[j0 + ty, k0 + tx]
            xs[ty][tx] = (i < n && k0 + tx < d) ? X[(size_t)i * d + k0 + tx] : T(0);
            const int jz = j0 + ty;
            zs[ty][tx] = (jz < m && k0 + tx < d) ? Z[(size_t)jz * d + k0 + tx] : T(0);
            __syncthreads();
#pragma unroll
            for (int k = 0; k < TILE; ++k) dot += xs[ty][k] * zs[tx][k];
            __syncthreads();
        }
        if (i < n && j < m) {
            const T kv = kernel_value(xsq[i] + zsq[j] - T(2) * dot, gamma, kind);
            const T* a = A + (size_t)j * lda + c0;
#pragma unroll
            for (int k = 0; k < CMAX; ++k)
                if (k < c) acc[k] += kv * a[k];
        }
    }
#pragma unroll
    for (int k = 0; k < CMAX; ++k) red[ty][tx][k] = acc[k];
    __syncthreads();
    if (tx == 0 && i < n) {
        for (int k = 0; k < c; ++k) {
            T s = T(0);
            for (int t = 0; t < TILE; ++t) s += red[ty][t][k];
            out[(size_t)i * ldo + c0 + k] = s;
        }
    }
}

extern "C" __global__ void fused_kernel_matvec_float32(
    const float* X, const float* Z, const float* A, const float* xsq, const float* zsq,
    float* out, int n, int m, int d, int lda, int ldo, int c0, int c, float gamma, int kind) {
    fused_kernel_matvec<float>(X, Z, A, xsq, zsq, out, n, m, d, lda, ldo, c0, c, gamma, kind);
}

extern "C" __global__ void fused_kernel_matvec_float64(
    const double* X, const double* Z, const double* A, const double* xsq, const double* zsq,
    double* out, int n, int m, int d, int lda, int ldo, int c0, int c, double gamma, int kind) {
    fused_kernel_matvec<double>(X, Z, A, xsq, zsq, out, n, m, d, lda, ldo, c0, c, gamma, kind);
}
