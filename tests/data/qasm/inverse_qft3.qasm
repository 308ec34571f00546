// Prepare the Fourier state QFT|3> as a product state, then undo the QFT: gives |011>.
// QFT|x> = ⊗_l (|0> + exp(2πi x / 2^l)|1>)/√2 with l = 1 on q[0].
OPENQASM 3.0;
include "stdgates.inc";
gate qft3 a, b, c {
  h a; cp(pi/2) b, a; cp(pi/4) c, a;
  h b; cp(pi/2) c, b;
  h c;
  swap a, c;
}
qubit[3] q;
h q;
p(pi) q[0];
p(3*pi/2) q[1];
p(3*pi/4) q[2];
inv @ qft3 q[0], q[1], q[2];
