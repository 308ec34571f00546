// qelib1 gates: cu1(pi/3) on |11> gives exp(iπ/3)|11>; u3(pi/2, pi/4, 0)|0> is
// (|0> + exp(iπ/4)|1>)/√2; u1(pi/2^2) adds the phase exp(iπ/4) to |1>.
OPENQASM 2.0;
include "qelib1.inc";
qreg q[4];
x q[0];
x q[1];
cu1(pi/3) q[0], q[1];
u3(pi/2, pi/4, 0) q[2];
x q[3];
u1(pi/2^2) q[3];
