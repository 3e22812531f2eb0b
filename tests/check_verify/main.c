void broken_stub(void);

int main(void)
{
	broken_stub();
	return 0;
}
