"""The degplug editors: UDM, NDR-Restore and blind restoration training in MMagic (as ``mmagic.models.editors``)."""
