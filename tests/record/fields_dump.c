/* Print the record's field table (common/fields.h), one row a line, tab-separated:
 * group, name, type, units ("" for none), section. For tests/record/readme_table.py,
 * which checks the README's table of run attributes against it. */
#include <stdio.h>

#include "fields.h"

int main(void)
{
    static const char *const types[] = {"uint64", "float64", "int32", "string"};

    for (size_t i = 0; i < qz_record_nfields; i++) {
        const struct qz_field *f = &qz_record_fields[i];
        printf("%s\t%s\t%s\t%s\t%s\n", f->group == QZ_GROUP_SELECTED ? "selected" : "run", f->name,
               types[f->type], f->units ? f->units : "", qz_field_section_name(f->section));
    }
    return 0;
}
