// import_twice.dsl — reaches models/lib/shared.dsl via the models/ root and via lib/user.dsl.
import "lib/shared.dsl"
import "lib/user.dsl"
export fn f(x: f32[shared_width]) -> f32[shared_width] { return quad(x) }
