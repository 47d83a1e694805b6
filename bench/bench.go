// Package bench holds claimgate's load benchmarks: the wrk scripts under
// login/ and verify/, and Go benchmarks of the baselines they are compared
// against, measured on the same cores in the same run.
package bench
