// cycle_a.dsl — imports cycle_b.dsl, which imports this file back (an import cycle for the tests).
import "cycle_b.dsl"
const a = 1
