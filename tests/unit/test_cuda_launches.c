/* test_cuda_launches.c — the launch counts of the CUDA plan of models/mdlm.dsl, computed by
 * cuda_block_launches (the model compiled with layers = 1 and 2) and checked against a count made
 * by hand from the DiT block (models/std/dit.dsl) and the fusion rules of docs/cuda.md. Forward,
 * per block: no launch for the adaLN linear (its product, c times the block's weight, is in the
 * one batched gemm of all blocks' adaLN linears at the first block: the same operand c, each its
 * own parameter; the bias is fused into its readers), layer_norm 1 (a sink writing the qkv
 * operand), the qkv gemm, the rotary keys (a kernel: attention reads keys once per query tile, so
 * arithmetic producers are not recomputed inside it), attention (the values in head layout read in
 * place through index arithmetic; a sink writing the output projection's operand through
 * merge_heads), the output gemm, layer_norm 2 (the residual x1 fused in; a sink writing the MLP's
 * first operand), the first MLP gemm with its cuBLASLt epilogue (bias + GELU, written as the
 * second gemm's bf16 operand) and the second MLP gemm = 8 launches, 4 of them gemms (9 when
 * cuBLASLt is missing: the bias + GELU operand kernel of the second gemm runs instead; the
 * training step keeps the GELU's input and output for the backward pass, so its forward has no
 * epilogue and the same launches either way); the residual stream (read by the next block's norm and residual:
 * too large to recompute in both) has no kernel: the next block's layer_norm computes it in its
 * first pass and stores it. The batched gemm of `logits` at the default consts holds one product
 * per layer. Also: fusion never adds launches to any function of the model. */
#include "check.h"
#include "cuda_emit.h"
#include "frontend.h"
#include <stdlib.h>
#include <string.h>

int main(void) {
  Module *m = dsl_compile_file("models/mdlm.dsl", NULL, 0, stderr);
  CHECK_MSG(m != NULL, "models/mdlm.dsl does not compile");
  if (!m) return check_summary("test_cuda_launches");
  CudaBlockLaunches bl;
  DlmErr e = {0};
  int ok = cuda_block_launches(m, &bl, &e);
  CHECK_MSG(ok, "cuda_block_launches: %s", e.msg);
  if (ok) {
    CHECK_MSG(bl.forward == 8, "forward launches per block: %d, expected 8", bl.forward);
    CHECK_MSG(bl.forward_fallback == 9, "forward launches per block without cuBLASLt: %d, expected 9", bl.forward_fallback);
    CHECK_MSG(bl.forward_gemms == 4, "forward gemms per block: %d, expected 4", bl.forward_gemms);
    CHECK_MSG(bl.step == bl.step_fallback, "training step per block: %d launches, %d without cuBLASLt", bl.step, bl.step_fallback);
    /* the training step: each of the 5 forward gemms (the adaLN one batched: 4 launches), the
     * gradients of both its operands, and attention's backward (passes/autodiff_rules_contract.c):
     * the scores again, dV = P^T dO, dP = dO V^T, dQ = dS K, dK = dS^T Q: 4 + 10 + 5 */
    CHECK_MSG(bl.step_gemms == 19, "training-step gemms per block: %d, expected 19", bl.step_gemms);
    CHECK_MSG(bl.backward > 0 && bl.step == bl.backward + bl.loss, "backward %d, step %d, loss %d", bl.backward, bl.step, bl.loss);
    printf("launches per block: forward %d (%d gemms; %d without cuBLASLt), training step %d (%d gemms), backward %d\n", bl.forward,
           bl.forward_gemms, bl.forward_fallback, bl.step, bl.step_gemms, bl.backward);
  }
  /* one batched gemm in the forward, one product per layer */
  const Func *lg = ir_func_find(m, "logits");
  CudaUnit lu;
  DlmErr le = {0};
  const char *layers = ir_meta_get(m, "layers");
  CHECK(lg && layers);
  if (lg && layers && cuda_emit_func_fuse(m, lg, 1, &lu, &le)) {
    int batched = 0, count = 0;
    for (int i = 0; i < lu.nlaunch; i++)
      if (lu.launch[i].gcount > 1) batched++, count = lu.launch[i].gcount;
    CHECK_MSG(batched == 1 && count == atoi(layers), "logits: %d batched gemms, the last of %d products (layers %s)", batched, count, layers);
    cuda_unit_free(&lu);
  } else CHECK_MSG(0, "logits: %s", le.msg);
  /* fusion never adds launches */
  for (int i = 0; i < m->nfuncs; i++) {
    CudaUnit a, b;
    DlmErr e1 = {0}, e2 = {0};
    int ok1 = cuda_emit_func_fuse(m, m->funcs[i], 1, &a, &e1), ok2 = cuda_emit_func_fuse(m, m->funcs[i], 0, &b, &e2);
    CHECK_MSG(ok1 && ok2, "%s: %s%s", m->funcs[i]->name, e1.msg, e2.msg);
    if (ok1 && ok2) CHECK_MSG(a.nlaunch <= b.nlaunch, "%s: %d launches fused, %d unfused", m->funcs[i]->name, a.nlaunch, b.nlaunch);
    if (ok1) cuda_unit_free(&a);
    if (ok2) cuda_unit_free(&b);
  }
  ir_module_free(m);
  return check_summary("test_cuda_launches");
}
