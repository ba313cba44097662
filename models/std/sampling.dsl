// std/sampling.dsl — the categorical sampling primitive of the reference samplers
// (mdlm-remdm.md §9, duo-udlm.md §7.1): for nonnegative, unnormalized weights w over the last axis
// and uniforms u ~ U[0,1), sample = argmax_v w_v / E_v with E_v = 1e-10 - log(u_v + 1e-10), an
// exponential race (equivalent to Gumbel-max on log w). Zero weights never win. Use f64 weights
// and f64 uniforms (fp32 noise acts as a lowered temperature).

fn sample_categorical(w: f64[B, L, V], u: f64[B, L, V]) -> i32[B, L] {
  race = w / (1e-10 - log(u + 1e-10))
  return argmax(race, axis = -1)
}
