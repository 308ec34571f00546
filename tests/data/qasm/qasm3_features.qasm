// OpenQASM 3 features: input, const, gate definitions, negctrl, inv, pow and ctrl.
// State: -cos(theta/2)|01> - i sin(theta/2)|11>.
OPENQASM 3.0;
include "stdgates.inc";
input float theta;
const float half_turn = pi / 2;
gate rot(t) a { ry(t) a; }
gate flip a, b { negctrl @ x a, b; }
qubit[2] q;
rot(theta) q[0];
flip q[0], q[1];
inv @ pow(2) @ s q[1];
ctrl @ rx(2 * half_turn) q[0], q[1];
