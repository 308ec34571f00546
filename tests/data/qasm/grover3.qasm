// Grover search on three qubits for |101>, two iterations: P(101) = 121/128.
OPENQASM 3.0;
include "stdgates.inc";
gate oracle a, b, c { x b; ctrl(2) @ z a, b, c; x b; }
gate diffuse a, b, c {
  h a; h b; h c;
  x a; x b; x c;
  ctrl(2) @ z a, b, c;
  x a; x b; x c;
  h a; h b; h c;
}
qubit[3] q;
bit[3] m;
h q;
oracle q[0], q[1], q[2];
diffuse q[0], q[1], q[2];
oracle q[0], q[1], q[2];
diffuse q[0], q[1], q[2];
m = measure q;
