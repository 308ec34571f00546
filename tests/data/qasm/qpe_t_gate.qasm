// Phase estimation of T on its eigenstate |1>: T|1> = exp(2πi/8)|1>, so three counting
// qubits read exactly 001.
OPENQASM 3.0;
include "stdgates.inc";
gate qft3 a, b, c {
  h a; cp(pi/2) b, a; cp(pi/4) c, a;
  h b; cp(pi/2) c, b;
  h c;
  swap a, c;
}
qubit[3] count;
qubit target;
bit[3] result;
x target;
h count;
ctrl @ pow(4) @ t count[0], target;
ctrl @ pow(2) @ t count[1], target;
ctrl @ t count[2], target;
inv @ qft3 count[0], count[1], count[2];
result = measure count;
