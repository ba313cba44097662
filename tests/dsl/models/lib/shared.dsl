// shared.dsl — imported twice through different paths by import_twice.dsl (once relative to the
// importing file, once through the models/ root); it must be loaded only once.
const shared_width = 4
fn twice(x: f32[N]) -> f32[N] { return x + x }
