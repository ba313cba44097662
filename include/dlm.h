/* dlm.h — the public C header of libdlm, for programs that embed dlmc: compile a DSL program to a
 * graph-IR module, optimize and differentiate it, run its functions on a backend, read and write
 * artifacts, checkpoints and tensors. Link with libdlm (CMake target `dlm`).
 *
 *   Module *m = dsl_compile_file("models/mdlm.dsl", defs, ndefs, stderr);   frontend.h
 *   PassOptions o = {0}; pass_pipeline_run(m, &o, &e);                      passes.h
 *   ad_grad(m, ir_func_find(m, "loss"), 0, NULL, 0, 1, &e);                 autodiff.h
 *   const Backend *b = backend_find("cpu"); BackendState *s = b->open(m, &e);
 *   b->run(s, f, params, args, outs, NULL, &e); b->close(s);                backend.h
 *   interp_run(m, f, params, args, outs, DT_F64, &e);                       interp.h (the oracle)
 *   artifact_write / artifact_read, st_load / st_save, npy_read / npy_write, tok_open ...
 * Every function reports errors through a DlmErr (ir.h) and never exits the process. */
#ifndef DLM_H
#define DLM_H

#include "ir.h"
#include "tensor.h"
#include "interp.h"
#include "diag.h"
#include "frontend.h"
#include "passes.h"
#include "autodiff.h"
#include "backend.h"
#include "artifact.h"
#include "safetensors.h"
#include "npy.h"
#include "tokenizer.h"

#endif
