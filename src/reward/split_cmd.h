/* The exec verifier's command-line splitter (src/reward/reward.c), exposed
 * for its fuzz target. */
#ifndef THINKRL_SPLIT_CMD_H
#define THINKRL_SPLIT_CMD_H

/* Splits s into words like a shell, without expansion: whitespace separates,
 * '...' is literal, "..." allows \" and \\, a backslash outside quotes
 * escapes the next character. *argv gets a NULL-terminated array of owned
 * words (free with reward_argv_free). Fails on an unbalanced quote or no
 * words, with a message. */
int reward_split_cmd(const char *s, char ***argv);
void reward_argv_free(char **argv);

#endif
