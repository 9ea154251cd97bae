"""The DC network of a grid: islands and radial branches (topology), flows and PTDF/LODF columns
(sensitivity), the rows of load states, N-0 limits and N-1 (security), economic redispatch
(redispatch), the one place that picks either's rows (rows), supply regions of buses (regions),
and hosting capacity (hosting, hosting_redispatch).

A room of planner: see the README's "Package layout"."""
