/* cli_help.h - the three levels of mvm-cli --help (see cli_help.c). */
#ifndef CLI_HELP_H
#define CLI_HELP_H

#include "cli.h"

void cli_help_top(FILE *out);
void cli_help_object(FILE *out, const cli_object *obj);
void cli_help_verb(FILE *out, const cli_object *obj, const cli_verb *verb);

#endif
