"""What routes call: courses, problem sets, attempts, gradebook. Each owns its transactions."""
