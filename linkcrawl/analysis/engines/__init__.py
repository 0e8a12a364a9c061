"""The engines that compute the authority tables, behind one contract."""
