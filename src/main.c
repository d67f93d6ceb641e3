/* main — placeholder until config lands */
#include <stdio.h>
int
main(void)
{
	puts("agora");
	return 0;
}
