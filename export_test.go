package aiflow

// ProcessCPU is processCPU, for the benchmarks of package aiflow_test.
var ProcessCPU = processCPU
