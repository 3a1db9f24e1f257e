from django import template

from website.operations import operations_summary

register = template.Library()


@register.inclusion_tag("website/operations_summary.html", takes_context=True)
def operations_summary_for_user(context):
    return operations_summary(context["request"].user)
