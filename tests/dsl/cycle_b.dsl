// cycle_b.dsl — the other half of the import cycle test (see cycle_a.dsl).
import "cycle_a.dsl"
const b = 2
