/* toxwire lookup: the onion client as a command (lookup.c). */
#ifndef TW_TOOLS_LOOKUP_H
#define TW_TOOLS_LOOKUP_H
int tw_cmd_lookup(int argc, char **argv);
#endif
