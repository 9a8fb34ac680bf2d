#ifndef TW_TOOLS_NODE_CMD_H
#define TW_TOOLS_NODE_CMD_H
/* toxwire node: a full node with friends, driven by commands on stdin. */
int tw_cmd_node(int argc, char **argv);
#endif
