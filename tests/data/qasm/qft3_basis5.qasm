// Quantum Fourier transform of the basis state |5> = |101> (q[0] most significant):
// QFT|x> = 1/√8 Σ_k exp(2πi x k / 8) |k>.
OPENQASM 3.0;
include "stdgates.inc";
gate qft3 a, b, c {
  h a;
  cp(pi/2) b, a;
  cp(pi/4) c, a;
  h b;
  cp(pi/2) c, b;
  h c;
  swap a, c;
}
qubit[3] q;
x q[0];
x q[2];
qft3 q[0], q[1], q[2];
